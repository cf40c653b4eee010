from proto3d.errors import Diagnostic, Proto3dError, Span, errors  # noqa: F401  # moved; re-exported until every import is updated

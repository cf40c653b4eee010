from proto3d.limits import Limits  # noqa: F401  # moved; re-exported until every import is updated

from proto3d.files import write_atomic, write_json  # noqa: F401  # moved; re-exported until every import is updated

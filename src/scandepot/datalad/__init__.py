"""DataLad access: a visit store over HTTP (docs/datalad.md)."""

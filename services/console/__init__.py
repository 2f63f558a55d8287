"""The operator console: a web page where a business sees its calls, handles callbacks, fixes knowledge gaps
and manages its documents (issue 13). `python -m services.console`."""

"""The ``warp`` command for operators: thin sub-commands over the service functions."""

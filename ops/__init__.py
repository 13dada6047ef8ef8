"""`python -m ops`: the operator's commands for a deployed stack or the local stack.

Each subcommand is a module here with ``add_arguments(parser)`` and ``run(args) -> int``;
``ops/__main__.py`` lists them. ``ops/target.py`` finds the user pool and the table
(``--user-pool-id``/``--table-name``, ``--stack`` or ``--local``) and makes the AWS clients,
each with explicit timeouts and bounded retries. The ListUsers paging and the token bucket
they pace it with live in ``lifecycle/users.py`` and ``lifecycle/pacing.py``: the Reconcile
function runs them too, and a function never imports ``ops``.
"""

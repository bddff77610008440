"""What every command runs on: its arguments, its errors, its stops, its worker processes, its device.

    cli          the argument parser and ``run``: one ``error: ...`` line and exit 2 for bad input
    errors       ``HpaError`` (a message for the user, not a traceback) and ``quote``
    interrupts   Ctrl-C and SIGTERM: one line naming the phase that stopped, exit 130 or 143
    worker_pool  process pools whose workers stop with the command
    device       ``--device cpu|gpu`` for minidl, a missing GPU as a one-line error

The commands themselves are the modules at the top of ``hpa`` (``python -m hpa.<command>``);
nothing here is a command.
"""

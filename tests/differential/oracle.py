"""The classic side of the differential tests: a worker run by ``.venv-classic``'s Python.

Requests arrive on stdin and answers leave on stdout, each a 4-byte big-endian
length and a pickle.  A request is ``(module, function, args, kwargs)``: the
scenario module is imported from this directory, with this project's ``src``
kept off ``sys.path``, so ``import ws4py`` is classic ws4py 0.6.0.  The answer
is ``("ok", value)`` or ``("error", formatted traceback)`` when the scenario
itself broke (an exception the scenario meant to observe is part of its value).
"""

import importlib
import os
import pickle
import struct
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    sys.path[:] = [os.path.dirname(HERE)] + [p for p in sys.path[1:] if p]
    import ws4py

    assert ws4py.__version__ == "0.6.0", ws4py.__file__
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a scenario's print() must not corrupt the channel
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        (size,) = struct.unpack("!I", head)
        module, function, args, kwargs = pickle.loads(stdin.read(size))
        try:
            value = getattr(importlib.import_module(module), function)(*args, **kwargs)
            answer = pickle.dumps(("ok", value), protocol=4)
        except BaseException:
            answer = pickle.dumps(("error", traceback.format_exc()), protocol=4)
        stdout.write(struct.pack("!I", len(answer)) + answer)
        stdout.flush()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Run one Python test module for meson: exit 0 pass, 1 fail, 77 skip.

usage: run.py MODULE [needs...]   e.g. run.py test_cffi cffi

Skips (77) when numpy or another needed module is missing, or when every
test of the module was skipped (e.g. no MNIST data).
"""
import importlib
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    module = sys.argv[1]
    for need in ["numpy"] + sys.argv[2:]:
        try:
            importlib.import_module(need)
        except ImportError as e:
            print("skip: %s is not available to %s (%s)" % (need, sys.executable, e))
            return 77
    sys.path.insert(0, HERE)
    suite = unittest.defaultTestLoader.loadTestsFromName(module)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.testsRun and len(result.skipped) == result.testsRun:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())

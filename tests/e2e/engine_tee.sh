#!/bin/bash
# Runs the engine command it is given, keeping a copy of what the engine
# prints on standard output in engine-stdout.txt, in the run's working
# folder: the worker uploads it as an artifact, so a test can compare the
# console the API kept with what was printed, byte for byte.
"$@" | tee engine-stdout.txt
exit "${PIPESTATUS[0]}"

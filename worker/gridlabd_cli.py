"""A ``gridlabd`` command on top of the PyPI ``gridlabd`` engine.

    python -m worker.gridlabd_cli [options] model.glm     (or bin/gridlabd)

behaves like the native ``gridlabd [options] model.glm``: the engine's own
command-line parser handles the options, its messages go straight to
stdout and stderr as it prints them, recorder files are complete when the
command exits, and the exit code keeps the native meaning:

    0  the simulation ran to its stop time
    1  the command line was rejected or the model did not load
       (syntax error, missing file, unknown option): native XC_ARGERR
    2  the simulation failed to start or stopped early (the engine's own
       exit code when it set one): native XC_ENVERR
    130 stopped by SIGINT (the engine closes its files first); SIGTERM
        ends it at once (status 143, or -15 as seen by a parent)
    255 the wrapper itself failed: native XC_EXCEPTION

Differences from the native command, all forced by the bindings:

- Options go before the model, and the model comes last. The engine
  applies every option before it loads the model, so an option after the
  model could not mean what it means natively; it is refused instead.
- One model file per run.
- Options that would wait for a person or open a server are refused (see
  ``REFUSED_OPTIONS``): a worker runs unattended and must not listen on
  ports. Everything else is the engine's business, including rejecting
  options it does not know.
- The engine writes ``_checkpoint.json`` at exit unless ``checkpoint_type``
  is ``NONE``; native GridLAB-D does not, so the wrapper sets ``NONE``
  unless the model or a ``-D checkpoint_type=...`` chose otherwise.

Progress: the engine prints the native progress line itself, about once a
second of wall time: ``Processing <simulated time>...`` ended by ``\\r`` on
stdout (turn it off with ``-D show_progress=FALSE``). The wrapper adds no
progress line of its own, so its output is exactly the engine's.

The engine's globals cannot be read while it runs (``run()`` holds the
interpreter), so when ``GRIDLABD_CLOCK_FILE`` names a file the wrapper
writes the model's ``starttime`` and ``stoptime`` there as JSON once the
model is loaded, and the ``clock`` reached once the run is over: with the
progress line, what the worker reports as a run's progress
(``worker/progress.py``).
"""

import ctypes
import json
import os
import sys
import tempfile

XC_SUCCESS = 0
XC_ARGERR = 1
XC_ENVERR = 2
XC_EXCEPTION = 255

# Native options that take the next argument as their value; knowing them is
# what tells a model file apart from an option's value.
OPTIONS_WITH_VALUE = set(
    "-D --define -T --threadcount -W --workdir -o --output -L --libinfo --redirect --mt_profile "
    "--modhelp --modattr --modtest --test --info --example --mclassdef --xmlencoding --xsl".split()
)

REFUSED_OPTIONS = {
    "--debugger": "it waits for commands on the terminal",
    "--pause": "it waits for a key press at exit",
    "--setup": "it opens an interactive setup screen",
    "--server": "it opens a network server",
    "--server_portnum": "it opens a network server",
    "-P": "it opens a network server",
    "--server_inaddr": "it opens a network server",
    "--environment": "it starts another run environment",
    "-e": "it starts another run environment",
    "--job": "it starts other processes",
    "--pcontrol": "it controls other processes",
    "--pkill": "it controls other processes",
    "--plist": "it controls other processes",
    "--pstatus": "it controls other processes",
    "--pclear": "it controls other processes",
    "--clearmap": "it controls other processes",
    "--check_version": "it calls the network",
    "--sanitize": "its arguments are not supported by this wrapper",
    "--validate": "its arguments are not supported by this wrapper",
}

USAGE = """\
usage: gridlabd [options] model.glm

Runs a GridLAB-D model with the PyPI gridlabd engine, like the native
gridlabd command. Options go before the model; for example
  gridlabd --warn -D name=value model.glm
'gridlabd --help' lists the engine's options.
"""


class UsageError(Exception):
    """The command line cannot be passed on to the engine."""


def split_command_line(arguments):
    """Return ``(options, model)``; ``model`` is None when none was given."""
    options = list(arguments)
    positions = []
    index = 0
    while index < len(options):
        argument = options[index]
        name = argument.split("=", 1)[0]
        if name in REFUSED_OPTIONS:
            raise UsageError(f"option {name} is not supported here: {REFUSED_OPTIONS[name]}")
        if argument in OPTIONS_WITH_VALUE:
            index += 2
            continue
        if not argument.startswith("-") or argument == "-":
            positions.append(index)
        index += 1
    if index > len(options):
        raise UsageError(f"option {options[-1]} needs a value")
    if not positions:
        return options, None
    if len(positions) > 1:
        raise UsageError("only one model file can be run at a time")
    if positions[0] != len(options) - 1:
        raise UsageError("the model file must come last, after all options")
    return options[:-1], options[-1]


def line_buffer_c_stdout():
    """Make the engine's C-level stdout line buffered, as on a terminal.

    Through a pipe glibc buffers stdout in 4 KiB blocks, so the worker would
    see the engine's messages late (or, if killed, never).
    """
    try:
        libc = ctypes.CDLL(None)
        libc.setvbuf.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t]
        c_stdout = ctypes.c_void_p.in_dll(libc, "stdout")
        libc.setvbuf(c_stdout, None, 1, 0)  # 1 is _IOLBF
    except (OSError, ValueError, AttributeError):
        pass  # not glibc: output still arrives, only later


def code_of(result):
    """The bindings return ``GLDErrorCode`` members; 0 is success."""
    return int(getattr(result, "value", result))


def chose_checkpoint_type(options):
    return any(
        value.startswith("checkpoint_type=")
        for flag, value in zip(options, options[1:], strict=False)
        if flag in ("-D", "--define")
    )


def exit_through_engine(engine, code):
    """Exit the way the engine needs: ``exit_gld`` closes the recorder files
    and ends the process itself, with the engine's ``exit_code`` global."""
    sys.stdout.flush()
    sys.stderr.flush()
    engine.set_global("exit_code", str(code))
    engine.exit_gld("")
    os._exit(code)  # only reached if the engine ever returns from exit_gld


def run_model(engine, options, model):
    """Load and run ``model``; return the native exit code."""
    default_checkpoint_type = engine.get_global("checkpoint_type")
    if code_of(engine.load_glm([model, *options])) != 0:
        return XC_ARGERR
    if code_of(engine.setup_after_load()) != 0:
        return XC_ENVERR
    if engine.get_global("checkpoint_type") == default_checkpoint_type and not chose_checkpoint_type(options):
        engine.set_global("checkpoint_type", "NONE")
    write_clock_file(engine, "starttime", "stoptime")
    failed = code_of(engine.run()) != 0
    write_clock_file(engine, "starttime", "stoptime", "clock")
    # The engine stops on SIGINT with run() "succeeding" and exit_code 130.
    engine_code = int(engine.get_global("exit_code") or 0)
    return engine_code or (XC_ENVERR if failed else XC_SUCCESS)


def write_clock_file(engine, *names):
    """The globals ``names`` as the engine prints them, into the file
    ``GRIDLABD_CLOCK_FILE`` names (nothing when unset)."""
    path = os.environ.get("GRIDLABD_CLOCK_FILE")
    if not path:
        return
    values = {name.removesuffix("time"): engine.get_global(name) for name in names}
    try:
        with open(path + ".tmp", "w") as file:
            json.dump(values, file)
        os.replace(path + ".tmp", path)
    except OSError as error:
        sys.stderr.write(f"WARNING  [INIT] : gridlabd wrapper: cannot write {path}: {error}\n")


def run_without_model(engine, options):
    """Informational options (``--version``, ``--help``, ``--modhelp x``...)
    need a file for the engine to load; give it an empty one, run nothing."""
    with tempfile.TemporaryDirectory(prefix="gridlabd-cli-") as folder:
        empty_model = os.path.join(folder, "empty.glm")
        open(empty_model, "w").close()
        return XC_ARGERR if code_of(engine.load_glm([empty_model, *options])) != 0 else XC_SUCCESS


def main(arguments=None):
    arguments = sys.argv[1:] if arguments is None else arguments
    if not arguments:
        sys.stderr.write(USAGE)
        return XC_ARGERR
    try:
        options, model = split_command_line(arguments)
    except UsageError as error:
        sys.stderr.write(f"gridlabd: {error}\n{USAGE}")
        return XC_ARGERR

    # DirectGridLabD runs the engine inside this process, so a signal to the
    # process (group) reaches the simulation: the engine exits at once on
    # SIGTERM (143) and stops cleanly on SIGINT (130), as natively.
    line_buffer_c_stdout()
    import gridlabd

    engine = gridlabd.DirectGridLabD()
    engine.enable_message_capture(False)  # it already prints them; capturing only costs memory
    try:
        code = run_without_model(engine, options) if model is None else run_model(engine, options, model)
    except Exception as error:  # the engine raised instead of returning a code
        sys.stderr.write(f"FATAL    [INIT] : gridlabd wrapper: {error}\n")
        code = XC_EXCEPTION
    exit_through_engine(engine, code)


if __name__ == "__main__":
    sys.exit(main())

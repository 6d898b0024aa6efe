import sys

from mlbasics.pipeline import worker

if __name__ == "__main__":
    # a job of a pipeline that has a warm worker runs there (no imports to pay); otherwise here
    code = worker.run(sys.argv[1:]) if sys.argv[1:2] not in (["worker"], ["server"]) else None
    if code is None:
        from mlbasics.cli import main
        from mlbasics.core.runtime import quiet_native_stderr

        quiet_native_stderr()  # TensorFlow's C++ start-up lines stay out of the job's log
        code = main()
    sys.exit(code)

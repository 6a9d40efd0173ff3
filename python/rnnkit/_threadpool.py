"""rnnkit's kernel threads as threadpoolctl sees them, when threadpoolctl is installed.

``threadpoolctl.threadpool_info()`` then lists rnnkit's pool (user_api "rnnkit") with its
thread count, and ``threadpool_limits(n)`` (a context manager or a decorator, as
scikit-learn and joblib use it) sets rnnkit's threads too and restores them afterwards.
threadpoolctl finds the pool among the loaded libraries by the compiled module's file
name and the one C symbol it exports, ``rnnkit_num_threads``.
"""

from . import core


def register():
    """Make rnnkit's pool known to threadpoolctl; nothing when it is not installed."""
    try:
        import threadpoolctl
    except ImportError:
        return

    class RnnkitController(threadpoolctl.LibController):
        user_api = "rnnkit"
        internal_api = "rnnkit"
        filename_prefixes = ("_core",)
        check_symbols = ("rnnkit_num_threads",)

        def get_num_threads(self):
            return self.dynlib.rnnkit_num_threads()

        def set_num_threads(self, num_threads):
            # through the Python API, so that show_config says who set the count
            core.set_num_threads(int(num_threads))

        def get_version(self):
            return core.build_info()["version"]

    threadpoolctl.register(RnnkitController)

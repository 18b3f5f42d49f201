"""Worker for the shared blocks notify.team and report.publish."""

from common import main, register_common

if __name__ == "__main__":
    main(register_common, "notify")

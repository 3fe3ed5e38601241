"""``python -m components.pusher REQUEST.json RESULT.json``: one smoke test, run by
``components.pusher.smoke.smoke_test`` in a fresh process."""

import sys

from components.pusher.smoke import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

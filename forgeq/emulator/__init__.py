"""The emulator: a library that never imports typer or rich. One folder per part.

    app/        the app as the manifest describes it: manifest.yml, handler loading, the Node.js bridge
    products/   product events and scheduled triggers: payloads, trigger filters, fan-out, schedules
    platform/   what handler calls reach: the key-value store, quotas, the async-events limits,
                the platform's HTTP answers to Forge's JavaScript packages
    loop/       the event loop: claim, invoke, decide, commit; retries, concurrency, the clock, the timeline
    store/      persistence: all SQL lives here
    tools/      what developers run around the loop: lint, report, summary, faults, golden timelines,
                export and import, doctor, the app template

Beside the folders, the vocabulary every part shares: errors.py (ForgeqError and its kinds),
limits.py (every number, with its source), ids.py, settings.py, timespec.py, wording.py (counts in
words), safetext.py (text made safe to keep and show), jsoninput.py (JSON input checked before parsing).

A part imports only the parts beneath it (tests/test_architecture.py checks it):

    shared      <- everything
    store       <- shared
    app         <- shared, the port (forgeq.runtime)
    products    <- shared, store, app
    platform    <- shared, store, app, products, the port, the SDK's errors and validation
    loop        <- all of the above
    tools       <- all of the above

Imports under `if TYPE_CHECKING:` may name any part (types only; nothing is imported at run time).
"""

import sys as _sys

if _sys.platform == "win32":  # file locks (fcntl) and handler timeouts (SIGALRM) are POSIX; forgeq.launcher says the same
    raise ImportError("forgeq runs on Linux and macOS; on Windows, run it inside WSL (https://learn.microsoft.com/windows/wsl/)")

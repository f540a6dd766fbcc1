"""The event loop: claim due events, invoke their handlers, decide (Forge's retry rules), commit.

engine.py (Emulator), lookahead.py (the look-ahead window), invocation.py (one attempt: timeouts,
logs, the Invocation it binds to the port), retry.py, concurrency.py, clock.py (the only reader of
the system time), timeline.py (what observers receive), pushing.py, watch.py (`run --watch`).

Imports: every part beneath it (shared, store, app, products, platform), the port and the SDK.
"""

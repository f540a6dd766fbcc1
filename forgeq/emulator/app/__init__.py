"""The app: its manifest.yml (parsed and validated with file:line), its handlers loaded from files,
Python in process and JavaScript or TypeScript on Node.js (bridge.py and the worker in worker/).

Imports: the shared modules and the port (forgeq.runtime). Nothing of the loop or the platform:
a JavaScript request reaches the platform through the invocation the port hands out.
"""

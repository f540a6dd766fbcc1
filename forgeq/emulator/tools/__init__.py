"""What developers run around the loop: lint (linting/ holds its checks by noun), the HTML report,
the run summary, the quota report, export and import (transfer.py), fault injection, golden
timelines, doctor and the fidelity table, the `forgeq init` template, and which UI resolver function
defines an `invoke` key (resolver_keys.py, read as lint reads handlers).

Imports: any part of the emulator. A new CLI view gets its data here (or from the store) and its
command in forgeq/cli/; a new lint rule goes in linting/rules.py and the linting module of its noun.
"""

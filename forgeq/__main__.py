from forgeq.cli import main

main()

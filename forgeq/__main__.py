from forgeq.launcher import main

main()

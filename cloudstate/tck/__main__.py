from cloudstate.tck.cli import main

main()

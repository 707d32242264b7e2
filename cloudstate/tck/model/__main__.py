from cloudstate.tck.model.server import main

main()

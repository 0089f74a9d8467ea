from hybridops.cli.app import main

main()

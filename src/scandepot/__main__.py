from scandepot.cli.main import main

main()

from scandepot.cli.entry import main

# Guarded: multiprocessing's spawn start method imports the main module in each child
# process (the local executor's pool does), which must not run the command line again.
if __name__ == "__main__":
    main()

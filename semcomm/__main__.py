from semcomm.launcher import main

if __name__ == "__main__":  # not when a Dask worker process re-imports the main module
    main()

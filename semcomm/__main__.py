from semcomm.cli import main

main()

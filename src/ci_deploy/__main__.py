from ci_deploy.cli import main

main()

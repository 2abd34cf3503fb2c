from tm_devstack.bench import main

main()

from tm_bench import main

main()

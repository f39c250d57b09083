from llmgen.cli.entry import main

main()

from llmgen.entry import main

main()

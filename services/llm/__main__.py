from services.llm.server import main

main()

from services.stt.server import main

main()

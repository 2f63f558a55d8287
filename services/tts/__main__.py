from services.tts.server import main

main()

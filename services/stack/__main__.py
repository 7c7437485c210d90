from services.stack.main import main

main()

from services.orchestrator.app.main import main

main()

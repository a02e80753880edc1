from optverify.cli import main

raise SystemExit(main())

"""The window at the cryostat: Qt (through qtpy) and pyqtgraph over the same procedures,
sequence engine and analysis as the command line. Nothing here measures or fits by itself."""

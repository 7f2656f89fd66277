def main() -> None:  # replaced below in this session
    raise SystemExit(0)

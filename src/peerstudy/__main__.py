from peerstudy.cli import run

run()

"""The main job (`make demo`): play every env, then (once the agents exist) train them."""

from examples import play_envs


def main() -> None:
    print("== every environment, random vs oracle ==")
    play_envs.main()


if __name__ == "__main__":
    main()

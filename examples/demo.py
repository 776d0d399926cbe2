"""The main job (`make demo`): every env played, then SL and REINFORCE trained on one policy and loss."""

from examples import play_envs, sl_then_rl, sl_vs_reinforce


def main() -> None:
    print("== every environment, random vs oracle ==")
    play_envs.main()
    print("\n== SL vs REINFORCE: one policy, one loss, two sources of data ==")
    sl_vs_reinforce.main(plot="sl_vs_reinforce.png")
    print("\n== SL on an imperfect demonstrator, then REINFORCE with a KL penalty to it ==")
    sl_then_rl.main()


if __name__ == "__main__":
    main()

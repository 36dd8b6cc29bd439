"""The parts of an RL stage that are not its recipe, one concern per module, shared by every RL trainer:

    reward.py   the verifiable reward: verifier score x verification_reward, the non-stop penalty, per-verifier logs
    timing.py   where a step's time goes (generation / reward / update)
    logps.py    padding-free log-prob passes of the policy and the reference
    hacking.py  the reward-hacking watch: training reward up while the held-out score falls

stages/rlvr.py reads top to bottom as the recipe and imports these; none of them imports a stage.
"""

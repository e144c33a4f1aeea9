"""`python -m netspec …`: what torchrun runs (`torchrun --nproc-per-node 2 -m netspec train SPEC`)."""

from netspec.entry import main

if __name__ == "__main__":
    main()

"""The generative frontier explorer: a VAE latent walk from sim to real and a classifier-in-the-loop WGAN-GP."""

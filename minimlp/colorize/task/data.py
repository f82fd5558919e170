"""The colorizer's images: the embedded default split, or a CIFAR-10 source cut into the paper's or the full split."""


def load_split(data="default", split="paper", seed=0, flag="--split"):
    """The (train, valid, test) ImageSets: the embedded default, or a CIFAR-10 source split as asked.

    ``flag`` is the option that chose ``split``, as named in error messages.
    """
    from ...data import full_split, load_cifar10, load_default, paper_split
    if data == "default":
        if split != "paper":
            raise ValueError("the embedded default data holds only the paper's split (5000/500/1000); for "
                             f"{flag} {split} pass --data PATH (e.g. ../shared/data/cifar10-jpeg.tar.gz)")
        return load_default()
    if data == "shared":
        from ...data import shared_archive_path
        path = shared_archive_path()
        if path is None:
            raise FileNotFoundError("--data shared: no cifar10-jpeg.tar.gz found (set MINIMLP_SHARED_DATA)")
        data = str(path)
    train, test = load_cifar10(data)
    if split == "paper":
        return paper_split(train, test, seed=0)
    if split == "full":
        return full_split(train, test, seed=0)
    raise ValueError(f"unknown split {split!r}; choose 'paper' or 'full'")

"""seqlab: recurrent networks from scratch."""

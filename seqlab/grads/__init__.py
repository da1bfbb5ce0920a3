"""The gradient lab: ``train`` (the adding and copy tasks, gradient norms through time), ``files``
(the CSV/Markdown records that ``seqlab grads plot`` and the demo read)."""

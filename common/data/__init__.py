"""Framework-neutral data: layouts, readers, the transform, preprocessing, inspection, splits."""

"""Ground truths every layer shares: rays, cameras, camera paths, poses
(se(3)/Sim(3) maths), metrics, trigonometry."""
